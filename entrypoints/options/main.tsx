import { render } from 'preact';
import '../../lib/ui.css';
import './options.css';
import { App } from './App';

render(<App />, document.getElementById('app')!);
